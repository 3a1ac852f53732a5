// node bench/profile.mjs FILE.cpuprofile: self time per function (top 25) of a `node --cpu-prof` profile.
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const self = new Map(), byId = new Map(p.nodes.map((n) => [n.id, n]));
const dt = p.timeDeltas;
let total = 0;
p.samples.forEach((id, i) => {
  const f = byId.get(id).callFrame.functionName || '(anon)';
  self.set(f, (self.get(f) || 0) + dt[i]); total += dt[i];
});
[...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)
  .forEach(([f, t]) => console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${f}`));
