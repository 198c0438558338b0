// npm records an optional platform package in package-lock.json only if the registry serves it.
// chdb lists macOS and Linux-arm64 builds that this registry does not carry, and `npm ci` then
// refuses the lock file as out of sync. This adds lock entries for them, marked optional and
// restricted to their os/cpu, so npm ci skips them on this platform without fetching anything.
// Run after any `npm install` that rewrites the lock: `node scripts/lockfile-optional-platforms.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (packages[key] || packages[`${path}/${key}`]) continue;
    const platform = /lib-(darwin|linux|win32)-(arm64|x64)(-gnu|-musl)?$/.exec(name);
    if (!platform) continue;
    packages[key] = {
      version,
      cpu: [platform[2]],
      ...(platform[3] ? { libc: [platform[3] === '-gnu' ? 'glibc' : 'musl'] } : {}),
      optional: true,
      os: [platform[1]],
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile-optional-platforms: added ${added} entries`);
