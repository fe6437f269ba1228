return Engine.Cli.EngineCli.Run(args, Console.Error);
