export { adminApiPlugin, type AdminApiOptions } from './admin-api.ts';
