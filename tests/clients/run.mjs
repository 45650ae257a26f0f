// What both client scripts share: read the arguments, run one session, print its answers as JSON
// on stdout (exit 0), or the error on stderr (exit 1).

// The plan's operations on a connected client (v1 and v2 name them alike): the listed entries,
// then each call's, read's and get's result in the plan's order.
export async function operate(client, plan) {
  const answers = { tools: (await client.listTools()).tools, calls: [] };
  for (const call of plan.calls) answers.calls.push(await client.callTool(call));
  answers.resources = (await client.listResources()).resources;
  answers.templates = (await client.listResourceTemplates()).resourceTemplates;
  answers.reads = [];
  for (const uri of plan.reads) answers.reads.push(await client.readResource({ uri }));
  answers.prompts = (await client.listPrompts()).prompts;
  answers.gets = [];
  for (const get of plan.gets) answers.gets.push(await client.getPrompt(get));
  return answers;
}

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
