"""The openai Python package through the zkcredits proxy, unchanged but for base_url."""
import sys

import openai

client = openai.OpenAI(base_url=sys.argv[1], api_key="unused: the proxy pays")
plain = client.chat.completions.create(
    model="zkcredits-echo", messages=[{"role": "user", "content": "hello from python"}]
)
assert plain.choices[0].message.content == "Hello", plain
stream = client.chat.completions.create(
    model="zkcredits-echo",
    messages=[{"role": "user", "content": "hello from python, streamed"}],
    stream=True,
    stream_options={"include_usage": True},
)
text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
assert text == "Hello", text
assert [m.id for m in client.models.list()] == ["zkcredits-echo"]
embedding = client.embeddings.create(model="zkcredits-echo", input="abc")
assert embedding.data[0].embedding == [0.5, 0.25], embedding
print(f"openai {openai.__version__} (python): plain, streamed, models, embeddings ok")
