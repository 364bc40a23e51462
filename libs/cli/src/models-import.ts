// `writ models-import --config FILE [--out DIR]`: writes each model of the model proxy's models file
// into the tool registry as a metered tool, model.<id> (docs/model-proxy.md, "Models").
import { loadModelCatalogue, writeModelTools } from '@writ/model-proxy';

const USAGE = 'usage: writ models-import --config <models.json> [--out <tools dir>, default $WRIT_TOOLS_DIR or tools]';

export function runModelsImport(args: readonly string[]): number {
  const valueOf = (flag: string): string | undefined => {
    const at = args.indexOf(flag);
    return at < 0 ? undefined : args[at + 1];
  };
  const config = valueOf('--config') ?? process.env['WRIT_MODELS_FILE'];
  if (config === undefined) {
    console.error(USAGE);
    return 2;
  }
  const out = valueOf('--out') ?? (process.env['WRIT_TOOLS_DIR'] || 'tools');
  const written = writeModelTools(loadModelCatalogue(config), out);
  for (const file of written) console.log(`[models-import] wrote ${file}`);
  console.log(`[models-import] ${written.length} model(s) imported into ${out}: restart (or roll) the services that read the registry`);
  return 0;
}
