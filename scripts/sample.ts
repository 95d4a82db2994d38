/**
 * A small sample set up through the public API, shared by the demo and the benchmark: a
 * submitter with an API token and mappings for the simulator's default metadata.
 */
export const ADMIN = { username: "admin", password: "Demo-Gateway-2026" };
export const CLINIC = { username: "clinic", password: "Ngelehun-Reports-2026" };

export const MAPPINGS_CSV =
  `code,what,name,dataset,dataelement,category_option_combo,source_orgunit,destination_orgunit
ANC1,de,ANC 1st visit,pBOMPrpg1QX,f7n9E0hX8qk,HllvX50cXC0,,
MAL_M,de,Malaria cases (male),pBOMPrpg1QX,deMalCases1,cocMale0001,,
MAL_F,de,Malaria cases (female),pBOMPrpg1QX,deMalCases1,cocFemale01,,
WEIGHT,de,Average weight (kg),pBOMPrpg1QX,deWeightKg1,HllvX50cXC0,,
NETS_OK,de,Bed nets available,pBOMPrpg1QX,deNetsOk001,HllvX50cXC0,,
NGELEHUN,ou,Ngelehun CHC,,,,NGELEHUN,DiszpKrYNg8
`;

export const SAMPLE_SUBMISSION = {
  orgUnit: "DiszpKrYNg8",
  orgUnitName: "Ngelehun CHC",
  period: "202410",
  dataSet: "pBOMPrpg1QX",
  dataValues: { ANC1: 12, MAL_M: 3, MAL_F: 1000000, WEIGHT: 3.25, NETS_OK: true },
};

export interface Sample {
  adminToken: string;
  clinicUid: string;
  apiToken: string;
  mappingsCreated: number;
}

export async function callApi(
  api: string,
  path: string,
  init: RequestInit & { token?: string } = {},
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  if (typeof init.body === "string") headers.set("Content-Type", "application/json");
  const res = await fetch(`${api}${path}`, { ...init, headers });
  const body = await res.json();
  if (!res.ok) {
    throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${JSON.stringify(body)}`);
  }
  return body;
}

/** `api` is the gateway's `/api/v3` URL; the admin must exist with ADMIN's password. */
export async function setUpSample(api: string): Promise<Sample> {
  const login = await callApi(api, "/users/getToken", {
    method: "POST",
    body: JSON.stringify(ADMIN),
  });
  const token = login.token as string;
  const clinic = await callApi(api, "/users", {
    method: "POST",
    token,
    body: JSON.stringify({
      ...CLINIC,
      firstName: "Ngelehun",
      lastName: "Clinic system",
      role: "submitter",
    }),
  });
  const apiToken = await callApi(api, `/users/${clinic.uid}/tokens`, {
    method: "POST",
    token,
    body: JSON.stringify({ name: "clinic system" }),
  });
  const form = new FormData();
  form.append("file", new File([MAPPINGS_CSV], "mappings.csv", { type: "text/csv" }));
  const imported = await callApi(api, "/mappings/import/csv", {
    method: "POST",
    token,
    body: form,
  });
  return {
    adminToken: token,
    clinicUid: clinic.uid,
    apiToken: apiToken.token,
    mappingsCreated: imported.created,
  };
}
