import type { Command } from 'commander';

function apiOf(o: { gateway: string; token?: string }) {
  const token = o.token ?? process.env.CIAO_TOKEN;
  if (!token) throw new Error('--token: is required (an administrator token of ciao admin user add), or set CIAO_TOKEN');
  return { url: o.gateway, token };
}

export function register(program: Command): void {
  const release = program
    .command('release')
    .description('Publish terminal releases: make the signing key, pack a compiled release, sign it, upload it, roll it out')
    .addHelpText('after', `
On the build machine (the signing key never goes to the gateway):
  ciao release keygen --out ~/ciao-release-keys          # once; give the gateway the .pub file (releases.publicKey)
  npm run build && ciao release pack --out ciao-badge-1.4.2.tar.gz
  ciao release sign ciao-badge-1.4.2.tar.gz --key ~/ciao-release-keys/release-signing.key
  ciao release upload ciao-badge-1.4.2.tar.gz --gateway http://gateway:8080 --token ciao_…
  ciao release rollout 1.4.2 --terminal T-0001 --terminal T-0002 --gateway http://gateway:8080 --token ciao_…
See docs/gateway.md, "Terminal releases".`);

  release
    .command('keygen')
    .description('Make the Ed25519 key pair releases are signed with: <name>.key (mode 0600, keep it offline) and <name>.pub')
    .requiredOption('--out <dir>', 'folder to write the two files in')
    .option('--name <name>', 'file name without extension', 'release-signing')
    .action(async (o: { out: string; name: string }) => {
      const { generateReleaseKeys } = await import('../../shared/release/publisher.ts');
      const r = generateReleaseKeys(o.out, o.name);
      process.stdout.write(`private key ${r.privateKey} (mode 0600: keep it offline, never on the gateway)\npublic key  ${r.publicKey} (the gateway's releases.publicKey)\n`);
    });

  release
    .command('pack')
    .description('Pack the compiled release (npm run build) into a bundle: package.json, bin/ciao.mjs, dist/')
    .requiredOption('--out <file>', 'the bundle to write (.tar.gz)')
    .option('--from <dir>', 'the built checkout or installed package', '.')
    .option('--set-version <version>', "release version stamped into the bundle's package.json (default: the package's)")
    .action(async (o: { out: string; from: string; setVersion?: string }) => {
      const { packRelease } = await import('../../shared/release/publisher.ts');
      const r = await packRelease({ from: o.from, out: o.out, version: o.setVersion });
      process.stdout.write(`bundle ${r.file} (version ${r.version})\n`);
    });

  release
    .command('sign')
    .description("Sign a bundle's manifest (version, SHA-256, size) with the release private key; writes BUNDLE.sig.json")
    .argument('<bundle>', 'the bundle of ciao release pack')
    .requiredOption('--key <file>', 'the private key of ciao release keygen')
    .option('--out <file>', 'the signed manifest to write (default: BUNDLE.sig.json)')
    .action(async (bundle: string, o: { key: string; out?: string }) => {
      const { signBundle } = await import('../../shared/release/publisher.ts');
      const r = await signBundle({ bundle, key: o.key, out: o.out });
      process.stdout.write(`signed ${r.signed.manifest.version} (sha256 ${r.signed.manifest.sha256}, ${r.signed.manifest.size} bytes, key ${r.signed.keyId}) -> ${r.file}\n`);
    });

  release
    .command('upload')
    .description('Upload a signed bundle to the gateway (it checks the signature with its releases.publicKey)')
    .argument('<bundle>', 'the bundle')
    .option('--signature <file>', 'its signed manifest (default: BUNDLE.sig.json)')
    .requiredOption('--gateway <url>', "the gateway's HTTP address, e.g. http://127.0.0.1:8080")
    .option('--token <token>', 'an administrator token (or CIAO_TOKEN)')
    .action(async (bundle: string, o: { signature?: string; gateway: string; token?: string }) => {
      const { uploadRelease } = await import('../../shared/release/upload.ts');
      const r = await uploadRelease(apiOf(o), bundle, o.signature ?? `${bundle}.sig.json`);
      process.stdout.write(`uploaded ${String(r.version)} (sha256 ${String(r.sha256)})\n`);
    });

  release
    .command('rollout')
    .description('Offer an uploaded release to some terminals, or to all')
    .argument('<version>', 'the release version')
    .option('--terminal <id>', 'a terminal to offer it to (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--all', 'every enabled terminal')
    .requiredOption('--gateway <url>', "the gateway's HTTP address")
    .option('--token <token>', 'an administrator token (or CIAO_TOKEN)')
    .action(async (version: string, o: { terminal: string[]; all?: boolean; gateway: string; token?: string }) => {
      if (!o.all && o.terminal.length === 0) throw new Error('name terminals with --terminal ID, or give --all');
      const { rollOut } = await import('../../shared/release/upload.ts');
      const r = await rollOut(apiOf(o), version, o.all ? { all: true } : { terminals: o.terminal });
      process.stdout.write(`rollout ${String(r.rollout)}: ${version} offered to ${(r.terminals as string[]).join(', ') || 'no terminal'}\n`);
    });
}
