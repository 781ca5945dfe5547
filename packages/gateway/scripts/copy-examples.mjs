// The payments example ships inside the gateway package (issue 16, part 6):
// `countersign init` scaffolds from its policy, and an installed package has
// no repository around it to find examples/ in. Copied on every build, so a
// checkout and an installed package read the same file; init looks for
// examples/payments/policy.yaml upwards from dist/cli/ and finds dist/examples/.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../../../examples/payments/', import.meta.url));
const to = fileURLToPath(new URL('../dist/examples/payments/', import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
