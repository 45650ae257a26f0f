-- Agents' tools take MCP tasks (decision 0028: `execution.taskSupport` "optional", which
-- agent_tools.definition sets for every agent registered or changed since). The tools of agents
-- registered before lacked it, so clients that honour taskSupport never asked them for a task:
-- give it to every agent tool without one, keeping whatever else `execution` holds.

UPDATE tools
SET definition = jsonb_set(
        definition,
        '{execution}',
        CASE WHEN jsonb_typeof(definition -> 'execution') = 'object'
             THEN definition -> 'execution' ELSE '{}'::jsonb END
        || '{"taskSupport": "optional"}'::jsonb
    ),
    updated_at = now()
WHERE agent_id IS NOT NULL
  AND (definition -> 'execution' ->> 'taskSupport') IS NULL;
