// Benchmarks: `bench/run NAME` builds and runs one. Each ends with key=value lines.
using Functional.Bench;

var name = args.FirstOrDefault() ?? "";
switch (name)
{
    case "grad-memory": GradMemory.Run(); break;
    case "remat": Remat.Run(); break;
    case "remat-child": Remat.RunChild(args.Skip(1).ToArray()); break;
    case "fit": FitSpeed.Run(); break;
    case "save-load": SaveLoad.Run(); break;
    case "fit-child": FitSpeed.RunChild(args.Skip(1).ToArray()); break;
    case "streams": StreamThroughput.Run(); break;
    case "streams-child": StreamThroughput.RunChild(args.Skip(1).ToArray()); break;
    case "images": ImagePipeline.Run(); break;
    case "profile": ProfileBench.Run(); break;
    case "mixed": MixedPrecision.Run(); break;
    case "compile": CompileBench.Run(); break;
    case "optimize": Optimize.Run(); break;
    case "distributed": Distributed.Run(args); break;
    case "distributed-rank": Distributed.RunRank(args.Skip(1).ToArray()); break;
    case "mixed-child": MixedPrecision.RunChild(args.Skip(1).ToArray()); break;
    case "profile-child": ProfileBench.RunChild(); break;
    default:
        Console.Error.WriteLine("usage: bench/run fit | grad-memory | remat | save-load | streams | images | profile | mixed | compile | optimize | distributed");
        return 2;
}
return 0;
