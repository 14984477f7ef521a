/**
 * `genrec serve` as a child process: started with the given flags, resolved once it prints its address
 * line on stdout. Used by the durability test and `genrec bench serve` (the server in its own process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const GENREC_BIN = fileURLToPath(new URL('../../../bin/genrec.js', import.meta.url));

export function spawnServe(dataDir: string, args: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [GENREC_BIN, 'serve', '--data-dir', dataDir, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/\S+)\n/m.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`genrec serve exited with ${code} before listening`)));
  });
}
