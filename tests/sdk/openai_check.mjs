// The openai npm package through the zkcredits proxy, unchanged but for baseURL.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { readFileSync } from "node:fs";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused: the proxy pays" });
const plain = await client.chat.completions.create({
  model: "zkcredits-echo",
  messages: [{ role: "user", content: "hello from node" }],
});
assert.equal(plain.choices[0].message.content, "Hello");
const stream = await client.chat.completions.create({
  model: "zkcredits-echo",
  messages: [{ role: "user", content: "hello from node, streamed" }],
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
for await (const chunk of stream) {
  if (chunk.choices.length) text += chunk.choices[0].delta.content ?? "";
}
assert.equal(text, "Hello");
const models = [];
for await (const model of client.models.list()) models.push(model.id);
assert.deepEqual(models, ["zkcredits-echo"]);
const embedding = await client.embeddings.create({ model: "zkcredits-echo", input: "abc" });
assert.deepEqual(embedding.data[0].embedding, [0.5, 0.25]);
const version = JSON.parse(
  readFileSync(new URL("../../node_modules/openai/package.json", import.meta.url)),
).version;
console.log(`openai ${version} (node): plain, streamed, models, embeddings ok`);
