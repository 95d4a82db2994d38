/**
 * A tracker submission's objects in its console detail: each one's type, UID, place in the
 * request and result, with DHIS2's error code and message when it was refused (the message is
 * hidden from anyone but an admin by the API itself, src/tracker/view.ts).
 */
import { Card, Table } from "./components.tsx";

export interface TrackerObjectRow {
  type: string;
  uid: string;
  path: string;
  generated: boolean;
  result: string;
  error_code: string | null;
  message: string | null;
}

export interface TrackerView {
  objects: TrackerObjectRow[];
  jobs: Array<{ job_id: string; attempt: number; result: string | null }>;
  payload_purged_at: string | null;
}

export function TrackerObjects(props: { tracker: TrackerView }) {
  const t = props.tracker;
  return (
    <Card id="tracker-h" title={`Tracker objects (${t.objects.length})`}>
      {t.payload_purged_at && (
        <p class="muted">
          Payload purged (tracker.payload_retention_days); the UIDs and outcome stay.
        </p>
      )}
      <Table
        columns={["Type", "UID", "In the request", "Result", "Error code", "Message"]}
        rows={t.objects}
        row={(o) => (
          <tr data-uid={o.uid}>
            <td class="mono">{o.type}</td>
            <td class="mono">{o.uid}</td>
            <td class="mono">{o.path}</td>
            <td>{o.result}</td>
            <td class="mono">{o.error_code ?? "–"}</td>
            <td class="wrap">{o.message ?? ""}</td>
          </tr>
        )}
      />
      {t.jobs.length > 0 && (
        <p class="muted">
          DHIS2 import jobs:{" "}
          {t.jobs.map((j) => `${j.job_id} (attempt ${j.attempt}, ${j.result ?? "running"})`).join(
            "; ",
          )}
        </p>
      )}
    </Card>
  );
}
