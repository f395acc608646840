// `nexthop apply -f FILE`: reads resources (multi-document YAML or JSON, Calico v3 field names)
// from one or more files (or - for stdin), validates all of them together with what the
// datastore holds, and only then writes them all. A bad document, field or value stops
// everything before anything is applied, with file, document, resource and field named.
// Calico v3 fields that nexthop does not use are applied without them, each named in a warning
// on stderr. No RFC: resource handling only (protocol limits are checked in cluster/resources).
import * as fs from 'fs';
import { parseFlags, UsageError } from '../usage';
import { parseResources, validateSet, Located } from '../../cluster/resources';
import { ResourceError, ResourceProblem, formatProblem } from '../../cluster/errors';
import { withDatastore, DATASTORE_FLAGS, DATASTORE_HELP } from '../../cluster/cli-support';

export const summary = 'create or update cluster resources from YAML/JSON files';

const USAGE = 'usage: nexthop apply -f FILE [-f FILE...] [--datastore SPEC]';
const HELP = `${USAGE}

Validates every resource in every FILE (- reads standard input), then applies them all.
Kinds: BGPConfiguration, BGPPeer, IPPool, Node (apiVersion nexthop.io/v1 or projectcalico.org/v3).
  -f, --filename FILE  resource file (repeatable)
${DATASTORE_HELP}
  --dry-run          validate only
  --help             this text`;

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, { filename: 'strings', ...DATASTORE_FLAGS, 'dry-run': 'boolean', help: 'boolean' }, USAGE, { f: 'filename' });
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`, USAGE);
  const files = (flags.filename as string[] | undefined) ?? [];
  if (files.length === 0) throw new UsageError('no file given (-f FILE)', USAGE);
  // 1. Read and validate everything first.
  const items: Located[] = [];
  const problems: ResourceProblem[] = [];
  const warnings: ResourceProblem[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = f === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(f, 'utf8');
    } catch (e) {
      process.stderr.write(`nexthop apply: cannot read ${f}: ${(e as Error).message}\n`);
      return 1;
    }
    try {
      items.push(...parseResources(text, f === '-' ? '<stdin>' : f, { crossChecks: false, warnings }));
    } catch (e) {
      if (e instanceof ResourceError) problems.push(...e.problems);
      else throw e;
    }
  }
  for (const w of warnings) process.stderr.write(`nexthop apply: warning: ${formatProblem(w)}\n`);
  if (problems.length > 0) {
    process.stderr.write(`nexthop apply: nothing applied:\n${new ResourceError(problems).message}\n`);
    return 1;
  }
  if (items.length === 0) {
    process.stderr.write('nexthop apply: no resources in the given files\n');
    return 1;
  }
  // 2. Apply all (the datastore re-validates the merged set).
  return withDatastore('apply', flags, USAGE, async (ds) => {
    if (flags['dry-run']) {
      await ds.load();
      const merged = new Map(ds.state.resources().map((r) => [`${r.kind}/${r.metadata.name}`, { resource: r, origin: { file: ds.description, document: 0 } } as Located]));
      for (const it of items) merged.set(`${it.resource.kind}/${it.resource.metadata.name}`, it);
      validateSet([...merged.values()]);
      for (const it of items) process.stdout.write(`${it.resource.kind}/${it.resource.metadata.name} valid (dry run)\n`);
      return 0;
    }
    const results = await ds.apply(items);
    for (const r of results) process.stdout.write(`${r.id} ${r.action}\n`);
    return 0;
  });
}
