import { sampleConfigYaml } from "../src/config/sample.ts";

const path = new URL("../packaging/dhis2gw.yml", import.meta.url);
await Deno.writeTextFile(path, sampleConfigYaml());
console.log(`wrote ${path.pathname}`);
