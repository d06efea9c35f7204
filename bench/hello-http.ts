/** The ceiling of this machine for Node itself: a bare node:http hello-world. */
import { createServer } from 'node:http';

createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '11' });
  res.end('Hello World');
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
