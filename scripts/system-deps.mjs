// The system packages the test suite needs, checked before any test runs. Missing ones are installed with
// apt-get where this process may (root, or sudo without a password prompt); otherwise the run stops at once
// and prints the one command to run. Without this, a fresh machine got 21 scattered failures (one a bare Python
// traceback) and no summary of what was missing.
import { spawnSync } from 'node:child_process';

/** What each reference needs: how to tell it is here, and the Debian packages that provide it. */
const REQUIREMENTS = [
  { what: 'openssl (the reference CMS verifier)', packages: ['openssl'], present: () => onPath('openssl') },
  { what: 'memcached (the shared cache tests)', packages: ['memcached'], present: () => onPath('memcached') || exists('/usr/bin/memcached') },
  { what: 'keystoneclient (mints PKI/PKIZ tokens, cms_verify)', packages: ['python3-keystoneclient'], present: () => pythonImports('keystoneclient.common.cms') },
  { what: 'keystonemiddleware 10.1 (headers, statuses, memcache format)', packages: ['python3-keystonemiddleware'], present: () => pythonImports('keystonemiddleware.auth_token') },
  { what: 'a real Keystone 22 (Fernet/JWS tokens)', packages: ['python3-keystone'], present: () => onPath('keystone-manage') && pythonImports('keystone.server.wsgi') },
  { what: 'uwsgi with its Python 3 plugin (serves that Keystone)', packages: ['uwsgi-core', 'uwsgi-plugin-python3'], present: () => onPath('uwsgi') && uwsgiHasPython() },
];

// Debian's interpreter: its dist-packages hold the references (a pyenv or venv python3 on PATH does not see them).
const PYTHON = '/usr/bin/python3';

function run(command, args) {
  return spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function onPath(binary) {
  return run('sh', ['-c', `command -v ${binary}`]).status === 0;
}
function exists(path) {
  return run('test', ['-x', path]).status === 0;
}
function pythonImports(module) {
  return run(PYTHON, ['-c', `import ${module}`]).status === 0;
}
function uwsgiHasPython() {
  return exists('/usr/lib/uwsgi/plugins/python3_plugin.so') || exists('/usr/lib/uwsgi/plugins/python311_plugin.so') ||
    run('sh', ['-c', 'ls /usr/lib/uwsgi/plugins/python3*_plugin.so']).status === 0;
}

const missing = REQUIREMENTS.filter((requirement) => !requirement.present());
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.flatMap((requirement) => requirement.packages))];
const command = `apt-get update && apt-get install -y ${packages.join(' ')}`;
console.log('# the test suite needs system packages that are not installed:');
for (const requirement of missing) console.log(`#   ${requirement.what}: ${requirement.packages.join(' ')}`);

const isRoot = process.getuid?.() === 0;
const canSudo = !isRoot && onPath('sudo') && run('sudo', ['-n', 'true']).status === 0;
if (process.env.KEYSTONE_AUTHTOKEN_NO_INSTALL !== '1' && onPath('apt-get') && (isRoot || canSudo)) {
  const prefix = isRoot ? [] : ['sudo', '-n'];
  console.log(`# installing them: ${isRoot ? '' : 'sudo '}${command}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const steps = [['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', ...packages]];
  for (const step of steps) {
    const [binary, ...args] = [...prefix, ...step];
    const result = spawnSync(binary, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (result.status !== 0) {
      console.log(`# ${step.join(' ')} failed (exit ${result.status}); run it yourself: sudo ${command}`);
      process.exit(1);
    }
  }
  const still = REQUIREMENTS.filter((requirement) => !requirement.present());
  if (still.length === 0) process.exit(0);
  console.log(`# still missing after the install: ${still.map((requirement) => requirement.what).join('; ')}`);
  process.exit(1);
}
console.log(`# this process cannot install them (not root, no password-less sudo, or no apt-get). Run once:`);
console.log(`#   sudo sh -c '${command}'`);
console.log('# then npm test again. (On a system without apt-get, install the same software by other means.)');
process.exit(1);
