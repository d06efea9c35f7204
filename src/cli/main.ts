/**
 * `oauth2-devices <command>`: `device` runs the device side of a flow against a server;
 * `serve` starts the server (as `npm start`); `purge` removes expired rows once; `clients`,
 * `users` and `migrate` administer the database (src/cli/admin.ts).
 */
import { adminUsage, runAdminCommand } from './admin';
import { runDeviceCommand } from './device';

const [command, ...rest] = process.argv.slice(2);

const USAGE = `usage: oauth2-devices <command> [options]

commands:
  device --issuer URL --client-id ID [--client-secret S] [--scope "a b"] [--resource URL] [--json] [--no-qr]
         run the device flow: show the code and a QR code, wait for approval, call the resource
  serve  start the server (configured by environment variables, see README)
  purge  remove expired rows once from DATABASE_URL

${adminUsage()}`;

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => (text += chunk));
    process.stdin.once('end', () => resolve(text));
    process.stdin.once('error', reject);
  });
}

async function run(): Promise<void> {
  switch (command) {
    case 'device':
      process.exitCode = await runDeviceCommand(rest, { out: process.stdout, err: process.stderr });
      return;
    case 'serve':
      require('../main'); // starts the server as it loads
      return;
    case 'purge':
      require('./purge'); // purges as it loads
      return;
    case 'clients':
    case 'users':
    case 'migrate':
      process.exitCode = await runAdminCommand(command, rest, { out: process.stdout, err: process.stderr, readStdin });
      return;
    case '--help':
    case 'help':
      console.log(USAGE);
      return;
    default:
      console.error(command ? `unknown command: ${command}\n\n${USAGE}` : USAGE);
      process.exitCode = 64;
  }
}

void run();
