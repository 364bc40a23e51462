// Turns a CustomResourceDefinition's openAPIV3Schema into the strict JSON schema that
// writ-manifest-check (and kubeconform) read: <kind>-<group's first label>-<version>.json, with
// apiVersion and kind fixed and additionalProperties false on every object that lists its
// properties (unless the CRD keeps unknown fields there). fetch.mjs derives the schemas of the
// pinned upstream CRDs with it at test time; by hand:
//   node deploy/helm/schemas/from-crd.mjs [--out <dir>] [--no-descriptions] <crd.yaml> [more.yaml...]
// (default --out: this folder; --no-descriptions drops the prose, for a schema committed here).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));

function strict(node, keepDescriptions) {
  if (Array.isArray(node)) return node.map((item) => strict(item, keepDescriptions));
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'description' && !keepDescriptions && typeof value === 'string') continue;
    out[key] =
      key === 'properties'
        ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, strict(sub, keepDescriptions)]))
        : strict(value, keepDescriptions);
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

/** The strict schema of every version of every CRD in a YAML stream: [{ file, schema }]. */
export function schemasOfCrds(yamlText, { descriptions = true } = {}) {
  const out = [];
  for (const doc of parseAllDocuments(yamlText)) {
    const crd = doc.toJS();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    const { group, names } = crd.spec;
    for (const version of crd.spec.versions) {
      const schema = strict(version.schema.openAPIV3Schema, descriptions);
      schema.$schema = 'https://json-schema.org/draft/2020-12/schema';
      schema.properties.apiVersion = { const: `${group}/${version.name}` };
      schema.properties.kind = { const: names.kind };
      schema.required = [...new Set(['apiVersion', 'kind', 'metadata', ...(schema.required ?? [])])];
      out.push({ file: `${names.kind}-${group.split('.')[0]}-${version.name}.json`.toLowerCase(), schema });
    }
  }
  return out;
}

/** Writes the schemas of the CRDs in `files` into `outDir`; returns the paths written. */
export function writeSchemas(files, outDir, options = {}) {
  const written = [];
  for (const file of files) {
    for (const { file: name, schema } of schemasOfCrds(readFileSync(file, 'utf8'), options)) {
      const out = join(outDir, name);
      writeFileSync(out, `${JSON.stringify(schema, null, 1)}\n`);
      written.push(out);
    }
  }
  return written;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let outDir = here;
  let descriptions = true;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') outDir = resolve(args[++i] ?? '.');
    else if (args[i] === '--no-descriptions') descriptions = false;
    else files.push(args[i]);
  }
  for (const out of writeSchemas(files, outDir, { descriptions })) console.log(out);
}
