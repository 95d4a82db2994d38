/**
 * One mapping at a time (/admin/mappings/new, /admin/mappings/:uid): create, edit, delete, over
 * POST/PUT/DELETE /api/v3/mappings, so a row is checked by the same rules as an imported file
 * (mappings/model.ts) and a refusal names each field.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/env.ts";
import type { MappingSchema } from "../mappings/schemas.ts";
import { must } from "./api.ts";
import { ActionButton, ErrorAlert, FormField, Report } from "./components.tsx";
import type { FragmentContext } from "./context.ts";
import { Layout, Slot } from "./layout.tsx";

type Mapping = z.infer<typeof MappingSchema>;
type C = Context<AppEnv>;

/** The form's fields, in order: [API field, label, hint]. */
const FIELDS = [
  ["code", "Code", "the source system's code"],
  ["name", "Name", "required for data element rows"],
  ["dataSet", "Data set", "UID"],
  ["dataElement", "Data element", "UID"],
  ["categoryOptionCombo", "Category option combo", "UID; empty = default"],
  ["attributeOptionCombo", "Attribute option combo", "UID; empty = default"],
  ["sourceOrgUnit", "Source org unit", "org unit rows: the source's code"],
  ["destinationOrgUnit", "DHIS2 org unit", "org unit rows: UID"],
  ["sourceName", "Source", "default"],
  ["instanceName", "Instance", "default"],
] as const;

export function MappingEditPage(props: { uid?: string }) {
  const title = props.uid ? "Edit mapping" : "New mapping";
  const src = props.uid
    ? `/admin/f/mappings/${encodeURIComponent(props.uid)}/edit`
    : "/admin/f/mappings/new";
  return (
    <Layout title={title} current="/admin/mappings">
      <p>
        <a href="/admin/mappings">← All mappings</a>
      </p>
      <h1>{title}</h1>
      <div data-report tabindex={-1} hidden></div>
      <Slot src={src} label={title} refresh={false} />
    </Layout>
  );
}

export function mappingEditFragments(ctx: FragmentContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/new", (c) => c.html(ctx.isAdmin(c) ? <MappingForm /> : <NotAdmin />))
    .post("/new", (c) => save(ctx, c))
    .get("/:uid/edit", async (c) => {
      const uid = c.req.param("uid")!;
      const m = must(await ctx.api(c).get<Mapping>(`/mappings/${encodeURIComponent(uid)}`));
      return c.html(ctx.isAdmin(c) ? <MappingForm m={m} /> : <NotAdmin />);
    })
    .post("/:uid/edit", (c) => save(ctx, c, c.req.param("uid")))
    .post("/:uid/delete", async (c) => {
      const uid = c.req.param("uid")!;
      const res = await ctx.api(c).send<Mapping>("DELETE", `/mappings/${encodeURIComponent(uid)}`);
      if (!res.ok) return c.html(<ErrorAlert title="Not deleted" {...res} />, res.status as 400);
      return c.html(<Report kind="ok">Deleted the mapping {res.data.code}.</Report>);
    });
}

function NotAdmin() {
  return <p class="alert">Changing mappings needs the admin role.</p>;
}

function MappingForm(props: { m?: Mapping }) {
  const m = props.m;
  const action = m ? `/admin/f/mappings/${m.uid}/edit` : "/admin/f/mappings/new";
  return (
    <form class="card" data-action={action} data-keep data-after="none">
      <div class="grid">
        <FormField id="m-what" label="Kind">
          <select id="m-what" name="what">
            <option value="de" selected={m?.what !== "ou"}>data element (de)</option>
            <option value="ou" selected={m?.what === "ou"}>org unit (ou)</option>
          </select>
        </FormField>
        {FIELDS.map(([field, label, hint]) => (
          <FormField id={`m-${field}`} label={label}>
            <input
              id={`m-${field}`}
              name={field}
              value={m ? String(m[field] ?? "") : ""}
              placeholder={hint}
              autocomplete="off"
            />
          </FormField>
        ))}
        <div class="buttons">
          <button type="submit" class="primary">{m ? "Save mapping" : "Create mapping"}</button>
          {m && (
            <ActionButton
              action={`/admin/f/mappings/${m.uid}/delete`}
              confirm={`Delete the mapping ${m.code}? Submissions using this code stop mapping.`}
            >
              Delete
            </ActionButton>
          )}
        </div>
      </div>
    </form>
  );
}

async function save(ctx: FragmentContext, c: C, uid?: string) {
  const form = await c.req.parseBody();
  const body: Record<string, string> = {};
  for (const k of ["what", ...FIELDS.map(([f]) => f)]) {
    body[k] = typeof form[k] === "string" ? (form[k] as string).trim() : "";
  }
  for (const k of ["sourceName", "instanceName"]) if (!body[k]) delete body[k];
  const res = uid
    ? await ctx.api(c).send<Mapping>("PUT", `/mappings/${encodeURIComponent(uid)}`, body)
    : await ctx.api(c).send<Mapping>("POST", "/mappings", body);
  if (!res.ok) {
    return c.html(<ErrorAlert title="Mapping not saved" {...res} />, res.status as 400);
  }
  const m = res.data;
  return c.html(
    <Report kind="ok">
      {uid ? "Saved" : "Created"} the mapping <strong>{m.code}</strong> ({m.what}).{" "}
      <a href={`/admin/mappings/${m.uid}`}>Edit it</a> ·{" "}
      <a href={`/admin/mappings?code=${encodeURIComponent(m.code)}`}>show in the list</a>
    </Report>,
  );
}
