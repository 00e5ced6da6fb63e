/**
 * Ensemble of Averages (Arpit, Wang, Zhou, Xiong, NeurIPS 2022): one predictor that averages the outputs of several
 * trained networks, each typically the moving average of a different run. Entry point:
 * {@link io.github.dl4jema.ensemble.EnsembleOfAverages#builder()}.
 */
package io.github.dl4jema.ensemble;
