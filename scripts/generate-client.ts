// Writes client/openapi.json and client/schema.d.ts from the app's route schemas.
// Usage: npm run client:generate
import { writeFileSync } from 'node:fs';
import { openApiDocument, openApiText } from '../src/http/openapi-document.ts';
import { schemaTypes } from '../tools/client-gen/schema-types.ts';

const dir = new URL('../client/', import.meta.url);
const document = await openApiDocument();
writeFileSync(new URL('openapi.json', dir), openApiText(document));
writeFileSync(new URL('schema.d.ts', dir), await schemaTypes(document));
console.log(`client/openapi.json and client/schema.d.ts: ${Object.keys(document.paths ?? {}).length} paths`);
