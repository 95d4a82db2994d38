/** `config check` with destinations: problems named by key, secrets never printed. */
import assert from "node:assert/strict";
import { runCli } from "./support/cli.ts";

Deno.test("config check lists destination problems and redacts destination secrets", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/pat`, "d2p_file_secret_321\n");
    const good = `destinations:
  programme:
    base_url: https://prog.example.org
    auth_method: pat
    pat_file: ${dir}/pat
  staging:
    base_url: https://staging.example.org
    user: gw
    password_env: STAGING_PW
sources:
  tb_app: { destination: programme, copies: [staging] }
`;
    await Deno.writeTextFile(`${dir}/good.yml`, good);
    const ok = await runCli(["config", "check", "--config-file", `${dir}/good.yml`], {
      env: { STAGING_PW: "env-secret-654" },
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /programme:/);
    assert.match(ok.stdout, /pat: REDACTED/);
    assert.match(ok.stdout, /password: REDACTED/);
    for (const s of ["d2p_file_secret_321", "env-secret-654"]) {
      assert.ok(!ok.stdout.includes(s) && !ok.stderr.includes(s), s);
    }

    await Deno.writeTextFile(
      `${dir}/bad.yml`,
      good.replace("copies: [staging]", "copies: [stagin]").replace("https://prog", "prog"),
    );
    const bad = await runCli(["config", "check", "--config-file", `${dir}/bad.yml`], {
      env: {},
    });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /configuration has 3 problem\(s\)/);
    assert.match(bad.stderr, /destinations\.programme\.base_url: must be an http\(s\) URL/);
    assert.match(bad.stderr, /destinations\.staging\.password_env: env STAGING_PW is not set/);
    assert.match(bad.stderr, /sources\.tb_app\.copies: no destination "stagin"/);
    assert.ok(!bad.stderr.includes("d2p_file_secret_321"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
