/**
 * The console's pages: shells with navigation, read-only filter forms (pre-filled from the
 * URL, so a filtered view can be bookmarked) and slots that the script fills with fragments.
 */
import { ROLES } from "../auth/principal.ts";
import { STATUSES } from "../queue/queries.ts";
import { SUBMISSION_KINDS } from "../submissions/filters.ts";
import { FilterField as Field, FilterForm, FilterSelect, type Query, same } from "./components.tsx";
import { Layout, Slot } from "./layout.tsx";

const MAPPING_KINDS = [["de", "data element (de)"], ["ou", "org unit (ou)"]] as const;
const ACTIVE = [["true", "active"], ["false", "deactivated"]] as const;

export function LoginPage(props: { message?: string; insecure?: boolean }) {
  return (
    <Layout title="Sign in" signedIn={false}>
      <div class="login card">
        <h1>Sign in to the console</h1>
        {props.message && <p class="alert">{props.message}</p>}
        {props.insecure && (
          <p class="alert warn" data-insecure>
            This page came over plain HTTP: your password and session would cross the network
            unencrypted. Ask your administrator for the console's HTTPS address.
          </p>
        )}
        <form data-login method="post" action="/admin/login">
          <div class="field">
            <label for="f-username">Username</label>
            <input id="f-username" name="username" autocomplete="username" required autofocus />
          </div>
          <div class="field">
            <label for="f-password">Password</label>
            <input
              id="f-password"
              name="password"
              type="password"
              autocomplete="current-password"
              required
            />
          </div>
          <p class="alert error" role="alert" data-login-error hidden></p>
          <button type="submit" class="primary">Sign in</button>
        </form>
        <p class="muted">
          Admins and viewers manage the gateway here; submitting systems' accounts see their own
          submissions and API tokens. One sign-in serves every tab of this browser until you sign
          out. API reference: <a href="/swagger/">Swagger UI</a>.
        </p>
      </div>
    </Layout>
  );
}

/** `destinations`: the configured names, offered by the destination filter. */
export function SubmissionsPage(props: { q: Query; destinations?: readonly string[] }) {
  const q = props.q;
  // A name typed into the URL that this process lacks (its deliveries still wait) stays choosable.
  const names = [...new Set([...(props.destinations ?? []), q.destination ?? ""])].filter(Boolean);
  return (
    <Layout title="Submissions" current="/admin/submissions">
      <h1>Submissions</h1>
      <FilterForm label="Filter submissions">
        <FilterSelect name="status" label="Status" q={q} options={same(STATUSES)} />
        <FilterSelect name="kind" label="Kind" q={q} options={same(SUBMISSION_KINDS)} />
        <FilterSelect name="destination" label="Destination" q={q} options={same(names)} />
        <Field name="from_date" label="From (day)" type="date" q={q} />
        <Field name="to_date" label="To (day)" type="date" q={q} />
        <Field name="orgUnit" label="Org unit" q={q} placeholder="UID, code or name" />
        <Field name="dataSet" label="Data set" q={q} placeholder="UID, code or name" />
        <Field name="period" label="Period" q={q} placeholder="e.g. 202604" />
        <Field name="user" label="User" q={q} placeholder="username" />
        <Field name="q" label="Error text" q={q} placeholder="contains…" />
        <Field name="submission_id" label="Submission id" q={q} />
      </FilterForm>
      <div data-report tabindex={-1} hidden></div>
      <Slot src="/admin/f/submissions/list" query label="Submissions found" />
      <Slot src="/admin/f/submissions/maintenance" label="Maintenance" refresh={false} />
    </Layout>
  );
}

export function SubmissionPage(props: { id: string }) {
  return (
    <Layout title={`Submission ${props.id}`} current="/admin/submissions">
      <p>
        <a href="/admin/submissions">← All submissions</a>
      </p>
      <h1>Submission {props.id}</h1>
      <div data-report tabindex={-1} hidden></div>
      <Slot
        src={`/admin/f/submissions/${encodeURIComponent(props.id)}`}
        label="Submission detail"
        query
      />
    </Layout>
  );
}

export function MappingsPage(props: { q: Query }) {
  const q = props.q;
  return (
    <Layout title="Mappings" current="/admin/mappings">
      <h1>Mappings</h1>
      <Slot src="/admin/f/mappings/tools" label="Import and export" refresh={false} />
      <div data-report tabindex={-1} hidden></div>
      <FilterForm label="Filter mappings">
        <Field name="code" label="Code" q={q} />
        <FilterSelect name="what" label="Kind" q={q} options={MAPPING_KINDS} />
        <Field name="name" label="Name" q={q} />
        <Field name="dataSet" label="Data set" q={q} placeholder="UID, code or name" />
        <Field name="dataElement" label="Data element" q={q} placeholder="UID, code or name" />
        <Field name="source" label="Source" q={q} placeholder="default" />
        <Field name="instance_name" label="Instance" q={q} placeholder="default" />
      </FilterForm>
      <Slot src="/admin/f/mappings/list" query label="Mappings found" />
    </Layout>
  );
}

export function UsersPage(props: { q: Query }) {
  const q = props.q;
  return (
    <Layout title="Users" current="/admin/users">
      <h1>Users</h1>
      <div data-report tabindex={-1} hidden></div>
      <FilterForm label="Filter users">
        <Field name="username" label="Username" q={q} />
        <FilterSelect name="role" label="Role" q={q} options={same(ROLES)} />
        <FilterSelect name="is_active" label="Active" q={q} options={ACTIVE} />
      </FilterForm>
      <Slot src="/admin/f/users/list" query label="Users found" />
      <Slot src="/admin/f/users/new" label="New user" refresh={false} />
    </Layout>
  );
}

export function UserTokensPage(props: { uid: string }) {
  return (
    <Layout title="API tokens" current="/admin/users">
      <p>
        <a href="/admin/users">← All users</a>
      </p>
      <div data-report tabindex={-1} hidden></div>
      <Slot src={`/admin/f/users/${encodeURIComponent(props.uid)}/tokens`} label="API tokens" />
    </Layout>
  );
}

export function StatusPage() {
  return (
    <Layout title="Status" current="/admin/status">
      <h1>Status</h1>
      <Slot src="/admin/f/status" label="Gateway status" poll={15} />
    </Layout>
  );
}
