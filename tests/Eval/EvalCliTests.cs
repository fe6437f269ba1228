using System.Text.Json;
using Engine.Backends;
using Engine.IO;
using Engine.Models;
using Engine.Tests.Cli;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Eval;

/// <summary>`engine eval` with suites, models side by side with an adapter, the gate's exit code, the outputs, `engine eval ifeval`, and
/// bad input as one-line errors.</summary>
public sealed class EvalCliTests(TrainedChatModel trained) : IClassFixture<TrainedChatModel>, IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Out => Path.Combine(_temp.Path, "out");

    private static string Row(string q, string a) => JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = q }, new { role = "assistant", content = a } } });

    /// <summary>Two exact tasks on the four trained questions ("first", "second") and a loss task.</summary>
    private string Suite()
    {
        _temp.File("qa.jsonl", string.Join('\n', TrainedChatModel.Pairs.Select(p => Row(p.Question, p.Answer))));
        return _temp.File("suite.json", """
            {"name": "tiny", "tasks": [
              {"name": "first", "kind": "exact", "data": "qa.jsonl", "max_new_tokens": 12},
              {"name": "second", "kind": "exact", "data": "qa.jsonl", "max_new_tokens": 12, "filters": ["strip"]},
              {"name": "loss", "kind": "loss", "data": "qa.jsonl"}]}
            """);
    }

    /// <summary>A LoRA adapter on the trained model whose B is not zero: it changes (and spoils) every answer.</summary>
    private string SpoilingAdapter(string? baseRecorded)
    {
        using var backend = new CpuBackend();
        using var model = HfCheckpoint.Load(trained.Directory, backend);
        model.AddLora(new LoraConfig(4, 64f, [LoraConfig.AllLinear], 0, false), seed: 3);
        var rng = new Random(5);
        foreach (var adapter in model.Adapters)
            backend.Upload(adapter.B.Value, Enumerable.Range(0, (int)adapter.B.Value.Length).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        string dir = Path.Combine(_temp.Path, "adapter");
        PeftAdapter.Save(model, dir, baseRecorded);
        return dir;
    }

    private JsonElement EvalJson() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Out, "eval.json"))).RootElement;

    [Fact]
    public void ModelsSideBySideWithAnAdapterAndTheGate()
    {
        string suite = Suite(), adapter = SpoilingAdapter(trained.Directory);
        string[] args = ["eval", "--model", trained.Directory, "--model", trained.Directory, "--adapter", adapter, "--suite", suite, "--out", Out, "--backend", "cpu", "--log-samples"];

        Assert.Equal((Engine.Cli.EvalCommand.GateFailed, ""), CliRun.Run([.. args, "--gate", "target=first"]));
        var json = EvalJson();
        Assert.Equal(2, json.GetProperty("models").GetArrayLength());
        var first = json.GetProperty("tasks")[0].GetProperty("metrics")[0];
        Assert.Equal("exact_match", first.GetProperty("name").GetString());
        Assert.Equal(1.0, first.GetProperty("values")[0].GetProperty("value").GetDouble());
        var spoiled = first.GetProperty("values")[1];
        Assert.True(spoiled.GetProperty("value").GetDouble() < 1.0);
        Assert.Equal(spoiled.GetProperty("value").GetDouble() - 1.0, spoiled.GetProperty("delta").GetDouble(), 12);
        Assert.Equal(["second", "loss"], json.GetProperty("gate").GetProperty("regressed").EnumerateArray().Select(e => e.GetString()));
        Assert.True(File.Exists(Path.Combine(Out, "eval.md")) && File.Exists(Path.Combine(Out, "eval.png")));
        Assert.Equal(2 * (4 + 4 + 4), File.ReadAllLines(Path.Combine(Out, "samples.jsonl")).Length);

        Assert.Equal((Engine.Cli.EvalCommand.GateFailed, ""), CliRun.Run([.. args, "--gate", "target=first,second"]));
        Assert.Equal((0, ""), CliRun.Run([.. args, "--gate", "target=first,second,loss"]));
        Assert.Equal((0, ""), CliRun.Run(args));
    }

    [Fact]
    public void BadInputIsOneLine()
    {
        string suite = Suite();
        CliRun.AssertError(CliRun.Run("eval", "--model", trained.Directory, "--adapter", SpoilingAdapter(_temp.Path), "--suite", suite, "--out", Out, "--backend", "cpu"),
            "was trained on the base", "not on --model");
        CliRun.AssertError(CliRun.Run("eval", "--adapter", trained.Directory, "--model", trained.Directory, "--suite", suite, "--out", Out), "comes before any --model");
        CliRun.AssertError(CliRun.Run("eval", "--model", trained.Directory, "--suite", suite, "--gate", "target=nope", "--out", Out), "--gate names task 'nope'");
        CliRun.AssertError(CliRun.Run("eval", "--model", trained.Directory, "--suite", suite, "--samples", "3", "--temperature", "0", "--out", Out), "needs a --temperature > 0");

        string bad = _temp.File("bad.json", """{"tasks": [{"name": "x", "kind": "fuzzy", "data": "qa.jsonl"}]}""");
        CliRun.AssertError(CliRun.Run("eval", "--model", trained.Directory, "--suite", bad, "--out", Out), "bad.json: task 'x': unknown kind 'fuzzy'");
        string missing = _temp.File("missing.json", """{"tasks": [{"name": "y", "kind": "loss", "data": "nowhere.jsonl"}]}""");
        CliRun.AssertError(CliRun.Run("eval", "--model", trained.Directory, "--suite", missing, "--out", Out), "missing.json: task 'y': data file", "nowhere.jsonl does not exist");
        _temp.File("if.jsonl", """{"key": 1, "prompt": "p", "instruction_id_list": ["keywords:nope"], "kwargs": [{}]}""");
        string unknownId = _temp.File("if.json", """{"tasks": [{"name": "z", "kind": "ifeval", "data": "if.jsonl"}]}""");
        CliRun.AssertError(CliRun.Run("eval", "--model", trained.Directory, "--suite", unknownId, "--out", Out), "if.json: task 'z': if.jsonl:1: key 1, instruction 1: unknown instruction id 'keywords:nope'");
        string extra = _temp.File("extra.json", """{"tasks": [{"name": "w", "kind": "loss", "data": "qa.jsonl", "filters": []}]}""");
        CliRun.AssertError(CliRun.Run("eval", "--model", trained.Directory, "--suite", extra, "--out", Out), "task 'w': a loss task takes no \"filters\"");
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void IfEvalScoresGivenResponsesWithoutAModel()
    {
        string data = _temp.File("input_data.jsonl", """
            {"key": 1, "prompt": "Shout hi.", "instruction_id_list": ["change_case:english_capital"], "kwargs": [{}]}
            {"key": 2, "prompt": "Say bye, end with Bye.", "instruction_id_list": ["startend:end_checker", "punctuation:no_comma"], "kwargs": [{"end_phrase": "Bye."}, {}]}
            """);
        string responses = _temp.File("responses.jsonl", """
            {"prompt": "Say bye, end with Bye.", "response": "Well, bye. Bye.\nAnything else?"}
            {"prompt": "Shout hi.", "response": "HI THERE"}
            """);
        Assert.Equal((0, ""), CliRun.Run("eval", "ifeval", "--data", data, "--responses", responses, "--out", Out));
        var metrics = EvalJson().GetProperty("tasks")[0].GetProperty("metrics").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("values")[0].GetProperty("value").GetDouble());
        Assert.Equal(0.5, metrics["prompt_level_strict"]);       // key 1 followed; key 2: the last line breaks the ending, the comma breaks no_comma
        Assert.Equal(1.0 / 3, metrics["inst_level_strict"], 12);
        // each instruction may pass on another variant: without the last line the ending is right, without the first line there is no comma
        Assert.Equal(1.0, metrics["prompt_level_loose"]);
        Assert.Equal(1.0, metrics["inst_level_loose"], 12);

        string other = _temp.File("other.jsonl", """{"prompt": "Shout hello.", "response": "HELLO"}""");
        CliRun.AssertError(CliRun.Run("eval", "ifeval", "--data", data, "--responses", other), "other.jsonl:1: its prompt is not in input_data.jsonl");
    }
}
