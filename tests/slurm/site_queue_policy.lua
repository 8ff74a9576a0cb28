-- A site's submission policy, as job_submit.lua plugins enforce them (the two-node Slurm test
-- installs it): on partition "limited", a job may wait for at most two others. sbatch
-- --test-only cannot foresee it, since the jobs a stage waits for do not exist when submit.sh
-- checks the graph.
function slurm_job_submit(job_desc, part_list, submit_uid)
  local dependency = job_desc.dependency or ""
  local _, waits_for = string.gsub(dependency, ":[0-9]+", "")
  if job_desc.partition == "limited" and waits_for > 2 then
    slurm.log_user("site policy: a job may wait for at most 2 others; this one waits for " .. waits_for)
    return slurm.ERROR
  end
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end

return slurm.SUCCESS
