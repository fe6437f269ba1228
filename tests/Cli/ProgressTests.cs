using System.Text;
using System.Text.RegularExpressions;
using Engine.Training;
using Spectre.Console;
using Xunit;
using Progress = Engine.Cli.Progress;

namespace Engine.Tests.Cli;

/// <summary>The training progress: plain lines when the output is not an interactive terminal, a live display redrawn in place when it is.</summary>
public class ProgressTests
{
    [Fact]
    public void RedirectedOutputGetsALineAtTheFirstStepEveryNStepsEvalsAndTheLast()
    {
        var output = new StringWriter();
        using var progress = new Progress(1, 25, logEvery: 10, Console(output, terminal: false));
        Assert.False(progress.IsLive);
        for (int step = 1; step <= 25; step++)
        {
            var result = Step(step);
            progress.Record(result);
            progress.Show(result, step == 13 ? 0.5 : double.NaN);
        }
        progress.WriteLine("checkpoint: somewhere");
        progress.Complete();

        string[] lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["step     1/25", "step    10/25", "step    13/25", "step    20/25", "step    25/25"], lines[..^1].Select(l => l[..13]));
        Assert.Equal("checkpoint: somewhere", lines[^1]);
        Assert.EndsWith("  eval loss 0.5000", lines[2]);
        Assert.Contains("loss  2.0000  lr 1.00E-003  grad-norm  0.250", lines[0]);
        Assert.DoesNotContain('\u001b', output.ToString());
    }

    [Fact]
    public void ATerminalGetsALiveDisplayWithLinesAboveIt()
    {
        var output = new StringWriter();
        var progress = new Progress(1, 3, logEvery: 1, Console(output, terminal: true));
        Assert.True(progress.IsLive);
        for (int step = 1; step <= 3; step++)
        {
            var result = Step(step);
            progress.Record(result);
            progress.Show(result, step == 2 ? 0.75 : double.NaN);
        }
        progress.WriteLine("checkpoint: somewhere");
        progress.Dispose();
        Assert.False(progress.IsLive);

        string raw = output.ToString(), text = Regex.Replace(raw, @"\u001b\[[0-9;?]*[A-Za-z]", "");
        Assert.StartsWith("\u001b[?25l", raw);
        Assert.EndsWith("\u001b[?25h", raw);
        Assert.Contains("step 2: eval loss 0.7500", text);
        Assert.Contains("checkpoint: somewhere", text);
        string lastFrame = text[text.LastIndexOf("step 3/3", StringComparison.Ordinal)..];
        Assert.Contains("100%", lastFrame);
        Assert.Contains("loss 2.0000  lr 1.00E-003  grad-norm 0.250", lastFrame);
        Assert.Contains("eval loss 0.7500", lastFrame);
        Assert.DoesNotContain("step     1/3", text);
    }

    private static StepResult Step(int step) => new(step, Loss: 2.0, GradNorm: 0.25, LearningRate: 1e-3f, Tokens: 100, TargetTokens: 50);

    private static IAnsiConsole Console(TextWriter writer, bool terminal) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = terminal ? AnsiSupport.Yes : AnsiSupport.No,
        Interactive = terminal ? InteractionSupport.Yes : InteractionSupport.No,
        Out = new Output(writer, terminal),
        Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
    });

    private sealed class Output(TextWriter writer, bool terminal) : IAnsiConsoleOutput
    {
        public TextWriter Writer => writer;
        public bool IsTerminal => terminal;
        public int Width => 100;
        public int Height => 40;
        public void SetEncoding(Encoding encoding) { }
    }
}
