// Turns a CustomResourceDefinition's openAPIV3Schema into the strict JSON schema that
// writ-manifest-check (and kubeconform) read: <kind>-<group's first label>-<version>.json, with
// apiVersion and kind fixed and additionalProperties false on every object that lists its
// properties (unless the CRD keeps unknown fields there). Run once per CRD file:
//   node deploy/helm/schemas/from-crd.mjs <crd.yaml> [more.yaml...]
// and commit the output (CI has no network to fetch CRDs).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));

function strict(node) {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-')) continue;
    out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, strict(sub)])) : strict(value);
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (out.properties !== undefined && node['x-kubernetes-preserve-unknown-fields'] !== true && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    const { group, names } = crd.spec;
    for (const version of crd.spec.versions) {
      const schema = strict(version.schema.openAPIV3Schema);
      schema.$schema = 'https://json-schema.org/draft/2020-12/schema';
      schema.properties.apiVersion = { const: `${group}/${version.name}` };
      schema.properties.kind = { const: names.kind };
      schema.required = [...new Set(['apiVersion', 'kind', 'metadata', ...(schema.required ?? [])])];
      const out = join(here, `${names.kind}-${group.split('.')[0]}-${version.name}.json`.toLowerCase());
      writeFileSync(out, `${JSON.stringify(schema, null, 1)}\n`);
      console.log(`${out} (from ${file})`);
    }
  }
}
