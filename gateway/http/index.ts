export { adminApiPlugin, API_PREFIX, OPENAPI_PATH, DASHBOARD_PATH, CONSOLE_PATH, type AdminApiOptions } from './admin-api.ts';
