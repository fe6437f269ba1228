namespace Engine.Data;

/// <summary>Who speaks a turn. <see cref="Text"/> is a plain-text example: no template, every token trained.</summary>
public enum ChatRole { System, User, Assistant, Text }

public sealed record ChatTurn(ChatRole Role, string Content);

/// <summary>One training example: the turns of a conversation, or a single <see cref="ChatRole.Text"/> turn.</summary>
/// <param name="Origin">Where it came from, e.g. "train.jsonl:12", for messages about it.</param>
public sealed record SftExample(IReadOnlyList<ChatTurn> Turns, string Origin = "")
{
    public bool IsPlainText => Turns is [{ Role: ChatRole.Text }];

    public static SftExample Chat(params ChatTurn[] turns) => new(turns);

    public static SftExample PlainText(string text, string origin = "") => new([new ChatTurn(ChatRole.Text, text)], origin);
}
