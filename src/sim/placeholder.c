/* placeholder until the simulator lands */
int lti_sim_placeholder;
