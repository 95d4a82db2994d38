/**
 * The aggregate ordering key, set on a delivery at enqueue: a delivery is not claimed while an
 * older pending one to the same destination has the same key, so a retried older submission
 * cannot overwrite a newer one in DHIS2. DHIS2 keys a value by (data element, period, org unit,
 * category option combo, attribute option combo); org unit and period are per submission, the
 * rest per value, so two submissions that can touch the same value always share (org unit,
 * period). The period is written the one way DHIS2 stores it: 2024-01 and 202401, 2024-01-05
 * and 20240105, 2024W1 and 2024W01 are the same period. Exactly what migration 0006's
 * submission_ordering_key computed (0008 filled the moved deliveries with it; a test compares).
 */
export function aggregateOrderingKey(orgUnit: string, period: string): string {
  return `${orgUnit}|${normalisedPeriod(period)}`;
}

/** The period written the one way DHIS2 stores it (see above). */
export function normalisedPeriod(period: string): string {
  return period.replace(/^(\d{4})-(\d{2})-?(\d{2})?$/, "$1$2$3").replace(/W0(\d)$/, "W$1");
}
