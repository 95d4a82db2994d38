/**
 * The tracker kind's SQL: its objects (tracker_objects), the async jobs it follows
 * (tracker_jobs), the ordering look-ups and the personal-data purge (migration 0017).
 */
import type { Db } from "../db/db.ts";
import type { TrackerObject } from "./bundle.ts";

export const TRACKER = "tracker";

export async function insertObjects(
  sql: Db,
  submissionId: number,
  objects: readonly TrackerObject[],
): Promise<void> {
  if (!objects.length) return;
  await sql`
    insert into tracker_objects (
      submission_id, position, type, uid, path, generated, tracked_entity, enrollment
    )
    select ${submissionId}, x.position, x.type, x.uid, x.path, x.generated::boolean, x.te, x.en
    from unnest(
      ${objects.map((_, i) => i)}::int[], ${objects.map((o) => o.type)}::text[],
      ${objects.map((o) => o.uid)}::text[], ${objects.map((o) => o.path)}::text[],
      ${objects.map((o) => String(o.generated))}::text[],
      ${objects.map((o) => o.trackedEntity) as string[]}::text[],
      ${objects.map((o) => o.enrollment) as string[]}::text[]
    ) as x(position, type, uid, path, generated, te, en)`;
}

/** Tracked entity of each enrollment UID, from earlier submissions (for the ordering key). */
export async function enrollmentOwners(
  sql: Db,
  enrollments: readonly string[],
): Promise<Map<string, string>> {
  if (!enrollments.length) return new Map();
  const rows = await sql<{ uid: string; tracked_entity: string }[]>`
    select distinct on (uid) uid, tracked_entity from tracker_objects
    where uid in ${sql(enrollments as string[])} and type = 'ENROLLMENT'
      and tracked_entity is not null
    order by uid, submission_id desc`;
  return new Map(rows.map((r) => [r.uid, r.tracked_entity]));
}

/**
 * Of `uids`, those an earlier submission (smaller id) than `submissionId` creates and whose
 * tracker delivery has not finished: what this submission must wait for.
 */
export async function createdByEarlierPending(
  sql: Db,
  submissionId: number,
  uids: readonly string[],
): Promise<Set<string>> {
  if (!uids.length) return new Set();
  const rows = await sql<{ uid: string }[]>`
    select distinct o.uid from tracker_objects o
    join deliveries d on d.submission_id = o.submission_id
    where o.uid in ${sql(uids as string[])} and o.submission_id < ${submissionId}
      and d.kind = 'tracker' and d.status in ('queued', 'running', 'retrying')`;
  return new Set(rows.map((r) => r.uid));
}

export interface OpenJob {
  jobId: string;
  attempt: number;
  postedAt: Date;
}

export async function openJob(sql: Db, deliveryId: number): Promise<OpenJob | null> {
  const [row] = await sql<OpenJob[]>`
    select job_id as "jobId", attempt, posted_at as "postedAt" from tracker_jobs
    where delivery_id = ${deliveryId} and finished_at is null
    order by posted_at desc limit 1`;
  return row ?? null;
}

export async function recordJob(
  sql: Db,
  deliveryId: number,
  jobId: string,
  attempt: number,
): Promise<void> {
  await sql`
    insert into tracker_jobs (delivery_id, job_id, attempt) values (${deliveryId}, ${jobId}, ${attempt})
    on conflict do nothing`;
}

export async function finishJob(
  sql: Db,
  deliveryId: number,
  jobId: string,
  result: "report" | "landed" | "lost" | "timeout",
): Promise<void> {
  await sql`
    update tracker_jobs set finished_at = now(), result = ${result}
    where delivery_id = ${deliveryId} and job_id = ${jobId}`;
}

export interface StoredObject {
  position: number;
  type: string;
  uid: string;
  path: string;
  generated: boolean;
  tracked_entity: string | null;
  enrollment: string | null;
}

export async function objectsOfSubmission(sql: Db, submissionId: number): Promise<StoredObject[]> {
  return [
    ...await sql<StoredObject[]>`
    select position, type, uid, path, generated, tracked_entity, enrollment
    from tracker_objects where submission_id = ${submissionId} order by position`,
  ];
}

export interface JobRow {
  job_id: string;
  attempt: number;
  posted_at: Date;
  finished_at: Date | null;
  result: string | null;
}

export async function jobsOfSubmission(sql: Db, submissionId: number): Promise<JobRow[]> {
  return [
    ...await sql<JobRow[]>`
    select j.job_id, j.attempt, j.posted_at, j.finished_at, j.result
    from tracker_jobs j join deliveries d on d.id = j.delivery_id
    where d.submission_id = ${submissionId} order by j.posted_at`,
  ];
}

/**
 * Replaces the request and payload of delivered tracker submissions finished before `before`
 * with a marker: names and identifiers of people go; the outcome, the attempts and the objects'
 * UIDs (tracker_objects) stay. Only `delivered` ones: a refused submission keeps its payload
 * for a person to fix and requeue, until server.retention_days deletes it. This writes
 * `submissions` (the submissions domain's table) because the payload lives there; nothing
 * else of it is touched.
 */
export async function purgeTrackerPayloads(sql: Db, before: Date, limit = 1000): Promise<number> {
  const rows = await sql`
    update submissions s
    set request = jsonb_build_object('purged', true),
        payload = jsonb_build_object('purged', true),
        payload_purged_at = now()
    where s.id in (
      -- submissions_tracker_unpurged_idx (0020): finished_at is in no index, so that the
      -- status trigger's rewrites stay HOT; the unpurged tracker rows are read and filtered.
      select id from submissions
      where kind = 'tracker' and payload_purged_at is null and status = 'delivered'
        and finished_at < ${before}
      order by finished_at limit ${limit}
    )
    returning s.id`;
  return rows.length;
}
