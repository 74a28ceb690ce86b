// `youzhi pipeline RECIPE.json --out DIR`: convert → heal → SFT → evaluate as one recipe
// (pipeline/recipe.h), resumable, ending with the table (DIR/table.{md,json,svg}).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "eval/tasks.h"
#include "pipeline/runner.h"
#include "pipeline/table.h"
#include "util/error.h"

namespace yz::apps {

Command add_pipeline(CLI::App& app) {
  struct Opts {
    std::string recipe, out, data_dir;
    bool json = false, check = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("RECIPE", o->recipe, "Recipe JSON (recipes/*.json)")->required();
  app.add_option("--out", o->out, "Run directory (default: runs/<recipe name>); a run there resumes");
  app.add_option("--data-dir", o->data_dir,
                 "Shared data folder when the recipe sets none (default ../shared/data)");
  app.add_flag("--check", o->check, "Validate the recipe, print each stage's command and exit");
  app.add_flag("--json", o->json, "Print {\"stages\", \"table\"} as one JSON object");
  return [o]() {
    const pipeline::Recipe r = pipeline::load_recipe(
        o->recipe, data_dir_or_default(o->data_dir));
    const fs::path out = o->out.empty() ? fs::path("runs") / fs::path(o->recipe).stem() : fs::path(o->out);
    if (o->check) {
      std::vector<std::pair<std::string, fs::path>> outputs;
      for (const auto& st : r.stages) {
        const fs::path dir = out / st.name;
        const size_t runs = st.kind == pipeline::StageKind::kEval ? st.models.size() : 1;
        for (size_t i = 0; i < runs; ++i) {
          std::printf("%s: youzhi", st.name.c_str());
          for (const auto& a : pipeline::stage_argv(r, st, dir, outputs, i)) std::printf(" %s", a.c_str());
          std::printf("\n");
        }
        outputs.emplace_back(st.name, pipeline::stage_output(st, dir));
      }
      return 0;
    }
    pipeline::RunOptions ro;
    ro.out = out;
    ro.exe = fs::read_symlink("/proc/self/exe");
    const pipeline::Json s = pipeline::run_pipeline(r, ro);
    if (o->json) {
      std::printf("%s\n", s.dump().c_str());
    } else if (s.contains("table")) {
      std::fputs(pipeline::table_markdown(s["table"]).c_str(), stdout);
      std::printf("wrote %s/table.{md,json,svg}\n", out.string().c_str());
    }
    return 0;
  };
}

}  // namespace yz::apps
