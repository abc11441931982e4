import type { App } from './app.js';

/** The OpenAPI document generated from the route schemas, as the text docs/openapi.json holds. */
export function openApiText(app: App): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
