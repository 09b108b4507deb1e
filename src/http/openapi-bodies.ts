type Operation = { requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> } };

/** True for an object schema that no field is required by: `{}` is such a body. */
function requiresNothing(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  const s = schema as { type?: unknown; required?: unknown };
  return s.type === 'object' && (!Array.isArray(s.required) || s.required.length === 0);
}

/**
 * @fastify/swagger marks every request body required, as Fastify would refuse a missing one.
 * This server does not: a POST sent without a body is validated as `{}` (app.ts, preValidation),
 * so a body whose schema requires no field may be left out, and the document says so (submit,
 * confirm and the like; the generated client then needs no `body: {}`). Changes `document` in place.
 */
export function optionalEmptyBodies<D extends { paths?: unknown }>(document: D): D {
  const paths = (document.paths ?? {}) as Record<string, Record<string, Operation>>;
  for (const operations of Object.values(paths)) {
    for (const op of Object.values(operations)) {
      const body = op.requestBody;
      const media = Object.values(body?.content ?? {});
      if (body && media.length > 0 && media.every((m) => requiresNothing(m.schema))) body.required = false;
    }
  }
  return document;
}
