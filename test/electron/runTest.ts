// `npm run test:electron`: the same extension in a desktop VS Code downloaded by
// @vscode/test-electron, for machines that can download it (these build machines cannot: there,
// `npm test` drives code-server instead, see test/e2e). Build first with `npm run build`.
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<void> {
  const extensionDevelopmentPath = path.resolve(__dirname, '../..');
  const extensionTestsPath = path.resolve(__dirname, 'suite.js');
  await runTests({
    extensionDevelopmentPath,
    extensionTestsPath,
    launchArgs: ['--disable-extensions', '--disable-workspace-trust'],
  });
}

main().catch((e) => {
  console.error('test-electron failed:', e);
  process.exit(1);
});
