using HpsSharp.Cli.Infrastructure;

return await CliApp.RunAsync(args, CliEnvironment.FromConsole()).ConfigureAwait(false);
