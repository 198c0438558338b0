/**
 * Generates schemas/types.generated.ts from the .avsc files, so the services' TypeScript types are
 * the Avro contracts. `npm run schemas:types` writes it; a unit test fails when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schemaDir, schemaFileOf } from '../schemas/catalog.js';

type AvroSchemaNode = string | AvroSchemaNode[] | { type: string | AvroSchemaNode; [key: string]: unknown };

interface NamedDecl {
  readonly name: string;
  readonly text: string;
}

const primitive: Record<string, string> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  bytes: 'Buffer',
  string: 'string',
};

function typeOf(node: AvroSchemaNode, decls: NamedDecl[]): string {
  if (typeof node === 'string') return primitive[node] ?? node;
  if (Array.isArray(node)) return node.map((branch) => typeOf(branch, decls)).join(' | ');
  const kind = node.type;
  if (typeof kind !== 'string') return typeOf(kind, decls);
  if (kind === 'record') {
    const name = String(node.name);
    if (!decls.some((d) => d.name === name)) {
      const fields = node.fields as { name: string; type: AvroSchemaNode; doc?: string }[];
      const lines = fields.map((field) => {
        const doc = field.doc ? `  /** ${field.doc} */\n` : '';
        return `${doc}  ${field.name}: ${typeOf(field.type, decls)};`;
      });
      const doc = node.doc ? `/** ${String(node.doc)} */\n` : '';
      decls.push({ name, text: `${doc}export interface ${name} {\n${lines.join('\n')}\n}` });
    }
    return name;
  }
  if (kind === 'enum') {
    const name = String(node.name);
    if (!decls.some((d) => d.name === name)) {
      const symbols = (node.symbols as string[]).map((s) => `'${s}'`).join(' | ');
      decls.push({ name, text: `export type ${name} = ${symbols};` });
    }
    return name;
  }
  if (kind === 'array') return `${wrap(typeOf(node.items as AvroSchemaNode, decls))}[]`;
  if (kind === 'map') return `Record<string, ${typeOf(node.values as AvroSchemaNode, decls)}>`;
  return primitive[kind] ?? kind;
}

function wrap(text: string): string {
  return text.includes(' ') ? `(${text})` : text;
}

export function renderSchemaTypes(): string {
  const decls: NamedDecl[] = [];
  for (const file of Object.values(schemaFileOf)) {
    typeOf(JSON.parse(readFileSync(join(schemaDir, file), 'utf8')) as AvroSchemaNode, decls);
  }
  const header = '// Generated from schemas/*.avsc by `npm run schemas:types`. Do not edit by hand.\n';
  return `${header}\n${decls.map((d) => d.text).join('\n\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(join(schemaDir, 'types.generated.ts'), renderSchemaTypes());
  console.log('wrote schemas/types.generated.ts');
}
