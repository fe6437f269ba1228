namespace Engine.Data;

/// <summary>
/// The engine's own chat templates, in Jinja like a model's: ChatML (Qwen2) and Llama-3. The assistant's part of each turn
/// (reasoning as &lt;think&gt;…&lt;/think&gt;, content, tool calls, end-of-turn token) is a <c>{% generation %}</c> block, which
/// is the loss mask; role headers and ChatML's newline after &lt;|im_end|&gt; are not trained. No default system prompt.
/// </summary>
internal static class BuiltInTemplates
{
    /// <summary><c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>; tool calls as Hermes/Qwen2.5's <c>&lt;tool_call&gt;</c> JSON.</summary>
    public const string ChatMl = """
        {%- for message in messages %}
            {{- '<|im_start|>' + message.role + '\n' }}
            {%- if message.role == 'assistant' %}
                {%- generation %}
                    {%- if message.reasoning_content %}
                        {{- '<think>\n' + message.reasoning_content + '\n</think>\n\n' }}
                    {%- endif %}
                    {{- message.content }}
                    {%- for call in message.tool_calls %}
                        {%- if message.content or not loop.first %}{{- '\n' }}{%- endif %}
                        {{- '<tool_call>\n' + {'name': call.function.name, 'arguments': call.function.arguments} | tojson + '\n</tool_call>' }}
                    {%- endfor %}
                    {{- '<|im_end|>' }}
                {%- endgeneration %}
                {{- '\n' }}
            {%- else %}
                {{- message.content + '<|im_end|>\n' }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\n' }}
        {%- endif %}
        """;

    /// <summary><c>&lt;|begin_of_text|&gt;</c>, then <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c>
    /// with content trimmed as Meta's template does; tool calls as Llama-3.1's <c>{"name": …, "parameters": …}</c>, tool results as <c>ipython</c>.</summary>
    public const string Llama3 = """
        {{- '<|begin_of_text|>' }}
        {%- for message in messages %}
            {{- '<|start_header_id|>' + ('ipython' if message.role == 'tool' else message.role) + '<|end_header_id|>\n\n' }}
            {%- if message.role == 'assistant' %}
                {%- generation %}
                    {%- if message.reasoning_content %}
                        {{- '<think>\n' + message.reasoning_content | trim + '\n</think>\n\n' }}
                    {%- endif %}
                    {{- message.content | trim }}
                    {%- for call in message.tool_calls %}
                        {{- {'name': call.function.name, 'parameters': call.function.arguments} | tojson }}
                    {%- endfor %}
                    {{- '<|eot_id|>' }}
                {%- endgeneration %}
            {%- else %}
                {{- message.content | trim + '<|eot_id|>' }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- endif %}
        """;
}
