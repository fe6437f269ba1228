using System.CommandLine;

namespace Engine.Cli;

/// <summary>`engine curate demo`: the curation experiment on the built-in model and data.</summary>
public static class CurationDemoCommand
{
    public static Command Create() => new("demo", "The curation experiment (not yet built)");
}
