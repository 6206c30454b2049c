#:project ../../tests/HpsSharp.Testing/HpsSharp.Testing.csproj
// Fake generation servers for trying `hps cohp` without a GPU: the same fake AUTOMATIC1111 and ComfyUI APIs the
// tests use (deterministic striped images from the seed; img2img blends the init image by the strength).
//   dotnet run tools/cohp/fake-generator.cs                               both: A1111 on 7860, ComfyUI on 8188
//   dotnet run tools/cohp/fake-generator.cs -- --a1111 7861 --comfyui 0   0 leaves one out
// Ctrl+C stops it.
using System.Globalization;
using HpsSharp.Testing.Generators;

int a1111Port = 7860, comfyPort = 8188;
for (int i = 0; i < args.Length; i++)
{
    string next = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a port number");
    switch (args[i])
    {
        case "--a1111": a1111Port = int.Parse(next, CultureInfo.InvariantCulture); i++; break;
        case "--comfyui": comfyPort = int.Parse(next, CultureInfo.InvariantCulture); i++; break;
        default: throw new ArgumentException($"unknown argument '{args[i]}' (use --a1111 PORT and/or --comfyui PORT)");
    }
}

var servers = new List<FakeGeneratorServer>();
if (a1111Port > 0)
{
    servers.Add(new FakeA1111Server(a1111Port) { Log = line => Console.WriteLine($"a1111   {line}") });
    Console.WriteLine($"fake AUTOMATIC1111 API listening on http://127.0.0.1:{a1111Port}");
}

if (comfyPort > 0)
{
    servers.Add(new FakeComfyUiServer(comfyPort) { Log = line => Console.WriteLine($"comfyui {line}") });
    Console.WriteLine($"fake ComfyUI API listening on http://127.0.0.1:{comfyPort}");
}

Console.WriteLine("Ctrl+C to stop");
var done = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; done.TrySetResult(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => done.TrySetResult();
await done.Task;
servers.ForEach(s => s.Dispose());
