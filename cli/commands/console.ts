import { Command } from 'commander';
import { isRole, issueToken, readOperators, removeOperator, saveOperator } from '../../console/auth.js';
import {
  consoleServiceSchema,
  loadConsoleConfig,
  operatorsFileOf,
  tokensFileOf,
} from '../../console/settings.js';
import { addSettingFlags } from '../../lib/config.js';
import { SentinelError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { exitOnFatal, onShutdown } from '../../lib/service/lifecycle.js';
import { renderTable } from '../output.js';
import { readStdin, stripLineEnd } from './devices.js';

/**
 * `sentinel console`: the quarantine review API and the operators' web page; `sentinel console
 * operators|tokens` manage who may use it.
 */
export function consoleCommand(): Command {
  const command = new Command('console').description(
    'serve the operator console: quarantine review (release / drop held messages), live verdicts, top offenders, device timelines; HTTP API for the CLI',
  );
  addSettingFlags(command, consoleServiceSchema);
  command.action(async (_options: unknown, cmd: Command) => {
    const config = loadConsoleConfig({ env: process.env, flags: cmd.opts() });
    const log = createLogger({ name: 'console' });
    const { startConsole } = await import('../../console/main.js');
    const running = await startConsole(config, log, { onFatal: exitOnFatal(log) });
    console.log(`console: ${running.url} (instance ${running.instanceId})`);
    if (running.bootstrap) {
      console.log(
        `console: first run: operator "${running.bootstrap.operator}", password in ${running.bootstrap.passwordFile}; CLI token in ${running.bootstrap.tokenFile}`,
      );
    }
    onShutdown({ log, graceMs: config.graceMs + 5000, drain: () => running.stop() });
  });
  command.addCommand(operatorsCommand());
  command.addCommand(tokensCommand());
  return command;
}

function accountsConfig(cmd: Command) {
  return loadConsoleConfig({ env: process.env, flags: cmd.optsWithGlobals() });
}

function roleOf(value: string): 'viewer' | 'operator' {
  if (!isRole(value))
    throw new SentinelError('SNT_USAGE', `--role: viewer or operator, not ${JSON.stringify(value)}`);
  return value;
}

function operatorsCommand(): Command {
  const operators = new Command('operators').description(
    'operator accounts for the web page (name, role, scrypt-hashed password)',
  );
  operators
    .command('add')
    .description('add an account, or set its role and password (the password is read from standard input)')
    .argument('<name>')
    .option('--role <role>', 'viewer (reads) or operator (also releases and drops)', 'operator')
    .addHelpText(
      'after',
      '\nExample:\n  printf %s "$PASSWORD" | sentinel console operators add alice --role operator',
    )
    .action(async (name: string, options: { role: string }, cmd: Command) => {
      const config = accountsConfig(cmd);
      const password = stripLineEnd(await readStdin()).toString('utf8');
      await saveOperator(operatorsFileOf(config), name, roleOf(options.role), password);
      console.log(
        `operator ${name} (${options.role}) saved in ${operatorsFileOf(config)}; a running console reads accounts at start`,
      );
    });
  operators
    .command('list')
    .description('the accounts (never their hashes)')
    .action((_options: unknown, cmd: Command) => {
      const accounts = readOperators(operatorsFileOf(accountsConfig(cmd)));
      if (accounts.length === 0) console.log('(no operator accounts)');
      else
        console.log(
          renderTable(
            ['name', 'role'],
            accounts.map((a) => [a.name, a.role]),
          ),
        );
    });
  operators
    .command('remove')
    .argument('<name>')
    .action((name: string, _options: unknown, cmd: Command) => {
      const removed = removeOperator(operatorsFileOf(accountsConfig(cmd)), name);
      console.log(removed ? `operator ${name} removed` : `no operator ${name}`);
    });
  return operators;
}

function tokensCommand(): Command {
  const tokens = new Command('tokens').description('bearer tokens for the CLI and scripts');
  tokens
    .command('add')
    .description('issue a new token (printed once; the tokens file keeps it, readable by its owner only)')
    .argument('<name>')
    .option('--role <role>', 'viewer or operator', 'viewer')
    .action((name: string, options: { role: string }, cmd: Command) => {
      const config = accountsConfig(cmd);
      const token = issueToken(tokensFileOf(config), name, roleOf(options.role));
      console.log(token);
    });
  return tokens;
}
