/**
 * The delivery benchmark's simulator on a thread of its own: its real work (parsing and checking
 * 10,000 values) must not stall the gateway's event loop, which a shared thread would add to
 * every import on top of the cost model. Messages: start → started {url}; dump → dump; stop.
 */
import { type Simulator, startSimulator } from "../src/simulator/simulator.ts";
import type { CostModel } from "../src/simulator/simulator_cost.ts";
import type { SimMetadata } from "../src/simulator/simulator_metadata.ts";

let sim: Simulator | undefined;
// The worker-side globals, typed here rather than through lib "deno.worker", which would apply
// to every file type-checked with this one.
const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

scope.onmessage = async (e: MessageEvent) => {
  const m = e.data as
    | { type: "start"; cost: CostModel; metadata: Partial<SimMetadata> }
    | { type: "dump" }
    | { type: "stop" };
  if (m.type === "start") {
    sim = await startSimulator({ cost: m.cost, recordRequests: false, metadata: m.metadata });
    scope.postMessage({ type: "started", url: sim.url });
  } else if (m.type === "dump") {
    scope.postMessage({
      type: "dump",
      values: sim!.dataValues().map((v) => [v.orgUnit, v.period, v.dataElement, v.value]),
      imports: sim!.cost()!.stats.imports,
      stats: sim!.cost()!.stats,
    });
  } else {
    await sim?.stop();
    scope.postMessage({ type: "stopped" });
  }
};
