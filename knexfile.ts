// For the knex CLI: `node --import tsx node_modules/knex/bin/cli.js --knexfile knexfile.ts migrate:latest`.
// The same configuration the server uses, chosen by DATABASE_URL (default: the embedded SQLite file).
import { knexConfig, parseDatabaseUrl } from './src/storage/database';

export default knexConfig(parseDatabaseUrl(process.env.DATABASE_URL));
