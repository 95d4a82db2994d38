/**
 * The demo's tracker sample: tracker mappings for the simulator's programs (set through
 * PUT /api/v3/tracker/mappings), and three submissions of the kinds third-party systems send: a
 * coded event, a person with an enrollment and two events, and a raw DHIS2 tracker bundle.
 */
import { callApi } from "./sample.ts";
import {
  CODED_EVENT_EXAMPLE,
  CODED_PERSON_EXAMPLE,
  TRACKER_EXAMPLE,
  TRACKER_MAPPINGS_EXAMPLE,
} from "../src/tracker/examples.ts";

export {
  CODED_EVENT_EXAMPLE as CODED_EVENT,
  CODED_PERSON_EXAMPLE as CODED_PERSON,
  TRACKER_EXAMPLE as RAW_BUNDLE,
  TRACKER_MAPPINGS_EXAMPLE as TRACKER_MAPPINGS,
};

/** The three tracker routes with their sample bodies, for the demo's curls and smoke run. */
export const TRACKER_SAMPLES = [
  { path: "/events", body: CODED_EVENT_EXAMPLE },
  { path: "/trackedEntities", body: CODED_PERSON_EXAMPLE },
  { path: "/tracker", body: TRACKER_EXAMPLE },
] as const;

export async function setUpTrackerSample(api: string, adminToken: string): Promise<number> {
  const r = await callApi(api, "/tracker/mappings", {
    method: "PUT",
    token: adminToken,
    body: JSON.stringify({ mappings: TRACKER_MAPPINGS_EXAMPLE }),
  });
  return r.stored;
}
