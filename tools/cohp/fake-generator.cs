#:project ../../tests/HpsSharp.Testing/HpsSharp.Testing.csproj
// A fake generation server for trying `hps cohp` without a GPU: the same fake AUTOMATIC1111 and ComfyUI APIs the
// tests use (deterministic striped images from the seed; img2img blends the init image by the strength).
//   dotnet run tools/cohp/fake-generator.cs -- --kind a1111 --port 7860
//   dotnet run tools/cohp/fake-generator.cs -- --kind comfyui --port 8188
// Ctrl+C stops it.
using HpsSharp.Testing.Generators;

string kind = "a1111";
int port = 7860;
for (int i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--kind")
    {
        kind = args[i + 1];
    }
    else if (args[i] == "--port")
    {
        port = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
    }
}

using FakeGeneratorServer server = kind switch
{
    "a1111" => new FakeA1111Server(port),
    "comfyui" => new FakeComfyUiServer(port),
    _ => throw new ArgumentException($"--kind is '{kind}'; expected a1111 or comfyui"),
};
server.Log = line => Console.WriteLine(line);
Console.WriteLine($"fake {kind} generator listening on {server.Url} (Ctrl+C to stop)");
var done = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; done.TrySetResult(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => done.TrySetResult();
await done.Task;
