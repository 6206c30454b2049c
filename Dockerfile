# HpsSharp reward service: `hps serve` in a container (docs/container.md).
#
#   docker build -t hpssharp .
#   docker run --rm -p 8080:8080 -v /path/to/model:/model:ro hpssharp
#   curl http://127.0.0.1:8080/readyz
#
# The model folder (config.json, tokenizer files, HPSv3.safetensors) is mounted read-only at /model; the weights are
# memory-mapped, never copied into the image. Extra `hps serve` flags go after the image name
# (e.g. `--batch-size 8 --api-key KEY`, or HPS_API_KEY in the environment).

# --- build: restore and publish the framework-dependent hps for linux-x64 (CPU libtorch) -------------------------
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Project files first so that the restore layer is reused while only sources change.
COPY Directory.Build.props Directory.Build.targets Directory.Packages.props .editorconfig ./
COPY src/HpsSharp.Core/HpsSharp.Core.csproj src/HpsSharp.Core/
COPY src/HpsSharp.Modeling/HpsSharp.Modeling.csproj src/HpsSharp.Modeling/
COPY src/HpsSharp.Training/HpsSharp.Training.csproj src/HpsSharp.Training/
COPY src/HpsSharp.Evaluation/HpsSharp.Evaluation.csproj src/HpsSharp.Evaluation/
COPY src/HpsSharp.Hub/HpsSharp.Hub.csproj src/HpsSharp.Hub/
COPY src/HpsSharp.Cohp/HpsSharp.Cohp.csproj src/HpsSharp.Cohp/
COPY src/HpsSharp.Server/HpsSharp.Server.csproj src/HpsSharp.Server/
COPY src/HpsSharp.Diagnostics/HpsSharp.Diagnostics.csproj src/HpsSharp.Diagnostics/
COPY src/HpsSharp.Cli/HpsSharp.Cli.csproj src/HpsSharp.Cli/
RUN dotnet restore src/HpsSharp.Cli/HpsSharp.Cli.csproj -r linux-x64
COPY src/ src/
# The publish step marks GLIBCXX_3.4.32 weak in libLibTorchSharp.so (Directory.Build.targets), as in every output.
RUN dotnet publish src/HpsSharp.Cli/HpsSharp.Cli.csproj -c Release -r linux-x64 --self-contained false --no-restore \
      -p:PublishDocumentationFiles=false -o /app \
 && rm -f /app/*.pdb

# --- runtime: ASP.NET Core runtime only, non-root --------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# $APP_UID is the image's unprivileged "app" user; the process needs no write access outside /tmp.
USER $APP_UID
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1
VOLUME ["/model"]
EXPOSE 8080
# 200 once the model is loaded. bash's /dev/tcp keeps curl out of the image; loading a 7B model takes a while.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# Inside the container the service must listen on every interface for -p to reach it (outside, it is loopback by default).
ENTRYPOINT ["dotnet", "/app/hps.dll", "serve", "--model", "/model", "--urls", "http://0.0.0.0:8080"]
