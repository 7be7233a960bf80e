// The `berth/layers` lint rule: every import crosses the layers only in the directions the layer
// table allows (eslint.config.js holds the table; docs/ARCHITECTURE.md says it in prose).
//
// A file belongs to the layer whose folder is the longest prefix of its path. For each import the
// rule resolves the target (relative specifiers against the file; bare ones are packages or Node
// built-ins) and checks the target's layer against the file's `may` list. Static imports,
// `export ... from`, dynamic `import()`, `import x = require()` and `require()` are all checked,
// so no form of import slips past. A layer may also list layers it may name types from
// (`mayTypes`: `import type` only, erased at build time). `node: false` bars Node's built-ins;
// `packages: false` bars npm packages. Files in no layer (tests, benchmarks, build scripts) are
// not checked; no layer may import them.
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILTINS = new Set(builtinModules);

/** The layer a repository-relative path belongs to (the longest matching folder or file). */
function layerOf(layers, rel) {
  let best;
  for (const layer of layers) {
    for (const where of layer.files) {
      if ((rel === where || rel.startsWith(`${where}/`)) && (!best || where.length > best.where.length)) best = { layer, where };
    }
  }
  return best?.layer;
}

/** A repository-relative path with forward slashes, or undefined outside the repository. */
function relative(file) {
  const rel = path.relative(ROOT, file).split(path.sep).join('/');
  return rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel;
}

const isTypeOnly = (node) =>
  node.importKind === 'type' ||
  node.exportKind === 'type' ||
  node.type === 'TSImportType' ||
  (node.specifiers?.length > 0 && node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type'));

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the layer table of eslint.config.js (docs/ARCHITECTURE.md)' },
    schema: false,
  },
  create(context) {
    const { layers } = context.options[0] ?? { layers: [] };
    const rel = relative(context.filename);
    const self = rel === undefined ? undefined : layerOf(layers, rel);
    if (!self) return {};
    const report = (node, what) => context.report({ node, message: `${self.name} may not import ${what}: ${self.why}` });
    const check = (node, source, typeOnly) => {
      if (!source || typeof source.value !== 'string') return;
      const spec = source.value;
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = relative(path.resolve(path.dirname(context.filename), spec));
        const other = target === undefined ? undefined : layerOf(layers, target);
        if (other === self) return;
        if (other && (self.may.includes(other.name) || (typeOnly && self.mayTypes?.includes(other.name)))) return;
        const label = other ? other.name : (target ?? spec);
        report(source, other && self.mayTypes?.includes(other.name) ? `${label} except with import type` : label);
        return;
      }
      if (spec.startsWith('node:') || BUILTINS.has(spec)) {
        if (self.node === false) report(source, `Node's ${spec}`);
        return;
      }
      if (self.packages === false) report(source, `the package ${spec}`);
    };
    return {
      ImportDeclaration: (node) => check(node, node.source, isTypeOnly(node)),
      ExportNamedDeclaration: (node) => check(node, node.source, isTypeOnly(node)),
      ExportAllDeclaration: (node) => check(node, node.source, isTypeOnly(node)),
      ImportExpression: (node) => check(node, node.source, false),
      TSImportType: (node) => check(node, node.argument?.literal ?? node.argument, true),
      TSExternalModuleReference: (node) => check(node, node.expression, node.parent?.importKind === 'type'),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments[0]?.type === 'Literal') check(node, node.arguments[0], false);
      },
    };
  },
};
