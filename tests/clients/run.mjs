// What both client scripts share: read the arguments, run one session, print its answers as JSON
// on stdout (exit 0), or the error on stderr (exit 1).
export async function run(session) {
  const [url, mode, transport, planJson] = process.argv.slice(2);
  const token = process.env.FORGE_TOKEN;
  if (!url || !mode || !transport || !planJson || !token) {
    process.stderr.write("usage: node <client>.mjs <url> <mode> <transport> <plan-json>, $FORGE_TOKEN\n");
    process.exit(2);
  }
  try {
    const answers = await session({ url, mode, transport, token, plan: JSON.parse(planJson) });
    process.stdout.write(JSON.stringify(answers) + "\n");
    process.exit(0);
  } catch (error) {
    process.stderr.write(`${error?.stack ?? error}\n`);
    if (error?.code !== undefined) process.stderr.write(`code: ${error.code}\n`);
    process.exit(1);
  }
}
