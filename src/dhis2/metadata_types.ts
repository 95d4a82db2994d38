/**
 * Shapes of the DHIS2 metadata the gateway reads (reference §7). Fields are optional where
 * DHIS2 omits nulls (NON_NULL serialisation, §2) or where a `fields=` selection may skip them.
 */

export interface CategoryOptionComboRef {
  id: string;
  code?: string;
  name?: string;
}

export interface CategoryComboWithOptionCombos {
  id: string;
  categoryOptionCombos?: CategoryOptionComboRef[];
}

export interface DataElementMeta {
  id: string;
  code?: string;
  name?: string;
  /** e.g. `INTEGER`, `NUMBER`, `BOOLEAN`, `TEXT` (§3.3, E7619). */
  valueType?: string;
  domainType?: string;
  aggregationType?: string;
  zeroIsSignificant?: boolean;
  categoryCombo?: CategoryComboWithOptionCombos;
  optionSet?: { id: string; options?: Array<{ code: string }> };
}

export interface DataSetMeta {
  id: string;
  name?: string;
  code?: string;
  periodType?: string;
  openFuturePeriods?: number;
  expiryDays?: number;
  /** Defines the attribute option combos a value of this data set may carry. */
  categoryCombo?: CategoryComboWithOptionCombos;
  dataSetElements?: Array<{
    dataElement: DataElementMeta;
    /** When present, overrides the element's own category combo for this data set (§7.2). */
    categoryCombo?: CategoryComboWithOptionCombos;
  }>;
  organisationUnits?: Array<{ id: string; code?: string }>;
}

export interface OrgUnitMeta {
  id: string;
  code?: string;
  name?: string;
  /** `/rootUid/…/thisUid` */
  path?: string;
  /** 1 for the root. */
  level?: number;
}

export interface SystemInfo {
  version?: string;
  revision?: string;
  serverDate?: string;
  contextPath?: string;
  systemName?: string;
  [field: string]: unknown;
}

export interface Dhis2Me {
  id: string;
  username?: string;
  authorities?: string[];
  organisationUnits?: Array<{ id: string; path?: string }>;
  /** UIDs of the data sets the user can capture. */
  dataSets?: string[];
  programs?: string[];
}
